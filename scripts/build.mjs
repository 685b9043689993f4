// Bundles the CLI with esbuild into dist/: what `npm install` (prepare) and `npm run demo` run, and what
// `npm run build` runs after type-checking with tsc.
//
// One entry point, dist/cli/main.js (bin/podid.js imports it; `podid runtime ...` is how the images run MIC, NMI,
// the proxy and the demo), split into chunks so that what a command imports inside its action (`await import()`)
// is loaded only when that action runs. The sandbox's two helper scripts that its pods' processes load by path
// are entry points of their own, where the kubelet expects them.
import { build } from "esbuild";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");

/**
 * Every output file that holds src/ code sits two levels below the package root (dist/cli/, dist/chunks/), and each
 * module's `import.meta.url` is rewritten to the URL it would have had unbundled (dist/<its path>.js): the package
 * root (package.json, templates/, bin/), the sandbox's helper scripts and createRequire() resolve as before.
 */
const unbundledUrl = {
  name: "unbundled-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      let contents = await readFile(args.path, "utf8");
      if (contents.includes("import.meta.url")) {
        const asBuilt = "../" + relative(src, args.path).replace(/\.ts$/, ".js");
        contents = contents.replaceAll("import.meta.url", `new URL(${JSON.stringify(asBuilt)}, import.meta.url).href`);
      }
      return { contents, loader: "ts" };
    });
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: {
    "cli/main": "src/cli/main.ts",
    "sandbox/kubelet/pod-network": "src/sandbox/kubelet/pod-network.ts",
    "sandbox/kubelet/iptables-stub": "src/sandbox/kubelet/iptables-stub.ts",
  },
  outdir: dist,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunks/[name]-[hash]",
  // Stack traces name src/ files with `--debug` (bin/podid.js turns Node's source-map support on for it).
  sourcemap: "linked",
  // Less for Node to read and parse (commands that load the SDKs start ~7% sooner; dist/ is 13 MB, not 19 MB).
  // Identifiers keep their names: class names, error names and stack traces read as in src/.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcesContent: false,
  // Packages written as CommonJS call require() for Node's own modules.
  banner: { js: `import { createRequire as __podidCreateRequire } from "node:module"; const require = __podidCreateRequire(import.meta.url);` },
  plugins: [unbundledUrl],
  metafile: true,
  logLevel: "warning",
  // Written below, each file atomically: a build while podid runs (npm install's prepare, npm run demo) never shows
  // a process a missing or half-written file.
  write: false,
});

// The rewrite above holds only for files two levels down: refuse a layout where it would not.
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith(".js")) continue;
  const depth = relative(root, file).split("/").length - 1;
  if (depth === 2) continue;
  const rewritten = [];
  for (const input of Object.keys(output.inputs)) {
    if (input.startsWith("src/") && (await readFile(join(root, input), "utf8")).includes("import.meta.url")) rewritten.push(input);
  }
  if (rewritten.length) throw new Error(`${file} is not two levels below the package root but holds ${rewritten.join(", ")}, whose import.meta.url assumes it is`);
}

// Each file written beside itself and renamed over the old one; then what this build did not make goes (chunks of
// sources that changed since), so dist/ holds exactly this build.
const made = new Set();
for (const file of result.outputFiles) {
  await mkdir(dirname(file.path), { recursive: true });
  const temporary = `${file.path}.${process.pid}.tmp`;
  await writeFile(temporary, file.contents);
  await rename(temporary, file.path);
  made.add(file.path);
}
for (const entry of await readdir(dist, { recursive: true, withFileTypes: true })) {
  const path = join(entry.parentPath ?? entry.path, entry.name);
  if (entry.isFile() && !made.has(path)) await rm(path, { force: true });
}
