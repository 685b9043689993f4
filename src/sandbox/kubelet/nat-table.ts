/**
 * A node's (or a pod's) netfilter nat table, as far as `iptables -t nat` goes for what runs on the sandbox's nodes:
 * chains, rules matching source, destination, protocol and destination port, and the targets a metadata redirect
 * uses (DNAT, RETURN, ACCEPT, a jump to a chain). `run` answers an iptables invocation with iptables' own output,
 * errors and exit codes; `dnat` is where the kernel would send a new TCP connection after PREROUTING. Anything else
 * fails loudly (exit 2), as an iptables without that extension would.
 */

export interface Rule {
  source?: string;
  notSource?: boolean;
  destination?: string;
  notDestination?: boolean;
  protocol?: string;
  dport?: number;
  jump: string;
  toDestination?: string;
}

export interface NatState {
  /** Chains in creation order (the built-in ones first), each with its rules in order. */
  chains: Record<string, Rule[]>;
}

export interface IptablesAnswer {
  code: number;
  stdout: string;
  stderr: string;
}

const BUILT_IN = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];
const TERMINAL_TARGETS = new Set(["ACCEPT", "DROP", "RETURN", "DNAT", "SNAT", "MASQUERADE", "REDIRECT"]);
const VERSION = "iptables v1.8.9 (sandbox)";

const NO_CHAIN = "iptables: No chain/target/match by that name.\n";
const BAD_RULE = "iptables: Bad rule (does a matching rule exist in that chain?).\n";

class IptablesFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const usage = (text: string) => new IptablesFailure(2, `${VERSION}: ${text}\nTry \`iptables -h' or 'iptables --help' for more information.\n`);

/** An address as iptables prints it: with its prefix length. */
function cidr(text: string): string {
  const [ip, bits] = text.split("/");
  const parts = ip.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d+$/.test(p) || Number(p) > 255)) throw usage(`host/network \`${ip}' not found`);
  const n = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(n) || n < 0 || n > 32) throw usage(`invalid mask \`${bits}' specified`);
  return `${ip}/${n}`;
}

function ipv4(ip: string): number {
  return ip.split(".").reduce((n, p) => n * 256 + Number(p), 0);
}

function inCidr(ip: string, block: string): boolean {
  const [base, bits] = block.split("/");
  const n = Number(bits);
  const size = 2 ** (32 - n);
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
}

/** A rule's options, in any order iptables takes them. */
function parseRule(words: string[]): Rule {
  const rule: Partial<Rule> = {};
  let negate = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const value = () => {
      const v = words[++i];
      if (v === undefined) throw usage(`option "${word}" requires an argument`);
      return v;
    };
    switch (word) {
      case "!":
        negate = true;
        continue;
      case "-s":
      case "--source":
        rule.source = cidr(value());
        rule.notSource = negate;
        negate = false;
        break;
      case "-d":
      case "--destination":
        rule.destination = cidr(value());
        rule.notDestination = negate;
        negate = false;
        break;
      case "-p":
      case "--protocol":
        rule.protocol = value().toLowerCase();
        break;
      case "-m":
      case "--match":
        if (value() !== rule.protocol) throw usage(`Couldn't load match \`${words[i]}'`);
        break;
      case "--dport":
      case "--destination-port": {
        if (rule.protocol !== "tcp" && rule.protocol !== "udp") throw usage(`unknown option "${word}"`);
        const port = Number(value());
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw usage(`invalid port/service \`${words[i]}' specified`);
        rule.dport = port;
        break;
      }
      case "-j":
      case "--jump":
        rule.jump = value();
        break;
      case "--to-destination":
        if (rule.jump !== "DNAT") throw usage(`unknown option "${word}"`);
        rule.toDestination = value();
        break;
      default:
        throw usage(`unknown option "${word}"`);
    }
    if (negate) throw usage(`cannot have ! before ${word}`);
  }
  if (!rule.jump) throw usage("no target given");
  if (rule.jump === "DNAT" && !rule.toDestination) throw usage("DNAT: you must specify --to-destination");
  return rule as Rule;
}

/** The rule as `iptables -S` prints it. */
function ruleText(rule: Rule): string {
  const words: string[] = [];
  if (rule.source) words.push(...(rule.notSource ? ["!"] : []), "-s", rule.source);
  if (rule.destination) words.push(...(rule.notDestination ? ["!"] : []), "-d", rule.destination);
  if (rule.protocol) words.push("-p", rule.protocol);
  if (rule.dport !== undefined) words.push("-m", rule.protocol!, "--dport", String(rule.dport));
  words.push("-j", rule.jump);
  if (rule.toDestination) words.push("--to-destination", rule.toDestination);
  return words.join(" ");
}

export class NatTable {
  private readonly chains: Map<string, Rule[]>;

  constructor(state?: NatState) {
    this.chains = new Map(BUILT_IN.map((c) => [c, [] as Rule[]]));
    for (const [name, rules] of Object.entries(state?.chains ?? {})) this.chains.set(name, [...rules]);
  }

  toJSON(): NatState {
    return { chains: Object.fromEntries(this.chains) };
  }

  /** Runs the arguments of one `iptables` invocation (after the binary's name) against this table. */
  run(args: string[]): IptablesAnswer {
    try {
      return { code: 0, stdout: this.command(args), stderr: "" };
    } catch (err) {
      if (err instanceof IptablesFailure) return { code: err.code, stdout: "", stderr: err.message };
      throw err;
    }
  }

  /**
   * Where a new TCP connection from `source` to `destination:port` goes once PREROUTING has seen it: the DNAT
   * target (`ip:port`) of the first rule that rewrites it, or undefined when it goes where it was sent.
   */
  dnat(connection: { source: string; destination: string; port: number }): { ip: string; port: number } | undefined {
    const verdict = this.traverse("PREROUTING", connection, 0);
    if (typeof verdict !== "object") return undefined;
    const [ip, port] = verdict.to.split(":");
    return { ip, port: Number(port || connection.port) };
  }

  private traverse(chain: string, c: { source: string; destination: string; port: number }, depth: number): { to: string } | "accept" | "return" {
    for (const rule of this.chains.get(chain) ?? []) {
      if (rule.source && inCidr(c.source, rule.source) === Boolean(rule.notSource)) continue;
      if (rule.destination && inCidr(c.destination, rule.destination) === Boolean(rule.notDestination)) continue;
      if (rule.protocol && rule.protocol !== "tcp") continue;
      if (rule.dport !== undefined && rule.dport !== c.port) continue;
      if (rule.jump === "DNAT") return { to: rule.toDestination! };
      if (rule.jump === "RETURN") return "return";
      if (TERMINAL_TARGETS.has(rule.jump)) return "accept";
      if (depth < 16 && this.chains.has(rule.jump)) {
        const verdict = this.traverse(rule.jump, c, depth + 1);
        if (verdict !== "return") return verdict;
      }
    }
    return BUILT_IN.includes(chain) ? "accept" : "return";
  }

  private command(args: string[]): string {
    const words = [...args];
    let table = "filter";
    const rest: string[] = [];
    for (let i = 0; i < words.length; i++) {
      if (words[i] === "-w" || words[i] === "--wait") {
        if (/^\d+(\.\d+)?$/.test(words[i + 1] ?? "")) i++;
      } else if (words[i] === "-t" || words[i] === "--table") table = words[++i] ?? "";
      else rest.push(words[i]);
    }
    if (table !== "nat") throw usage(`the sandbox's nodes have only the nat table, not \`${table}'`);
    const [op, chain, ...spec] = rest;
    switch (op) {
      case "-S":
      case "--list-rules":
        return this.listRules(chain);
      case "-N":
      case "--new-chain":
        if (!chain) throw usage(`option "${op}" requires an argument`);
        if (this.chains.has(chain)) throw new IptablesFailure(1, "iptables: Chain already exists.\n");
        this.chains.set(chain, []);
        return "";
      case "-X":
      case "--delete-chain": {
        const rules = this.existing(chain);
        if (BUILT_IN.includes(chain)) throw new IptablesFailure(1, "iptables: Invalid argument.\n");
        if (rules.length) throw new IptablesFailure(1, "iptables: Directory not empty.\n");
        if ([...this.chains.values()].some((rs) => rs.some((r) => r.jump === chain))) throw new IptablesFailure(1, "iptables: Too many links.\n");
        this.chains.delete(chain);
        return "";
      }
      case "-F":
      case "--flush":
        for (const name of chain ? [chain] : [...this.chains.keys()]) this.existing(name).length = 0;
        return "";
      case "-A":
      case "--append":
        this.existing(chain).push(this.checkedRule(spec));
        return "";
      case "-I":
      case "--insert": {
        const rules = this.existing(chain);
        const position = /^\d+$/.test(spec[0] ?? "") ? Number(spec.shift()) : 1;
        if (position < 1 || position > rules.length + 1) throw new IptablesFailure(1, "iptables: Index of insertion too big.\n");
        rules.splice(position - 1, 0, this.checkedRule(spec));
        return "";
      }
      case "-C":
      case "--check":
        if (this.find(chain, spec) < 0) throw new IptablesFailure(1, BAD_RULE);
        return "";
      case "-D":
      case "--delete": {
        const rules = this.existing(chain);
        const at = spec.length === 1 && /^\d+$/.test(spec[0]) ? Number(spec[0]) - 1 : this.find(chain, spec);
        if (at < 0 || at >= rules.length) throw new IptablesFailure(1, spec.length === 1 ? "iptables: Index of deletion too big.\n" : BAD_RULE);
        rules.splice(at, 1);
        return "";
      }
      default:
        throw usage(op ? `unknown option "${op}"` : "no command specified");
    }
  }

  private existing(chain: string | undefined): Rule[] {
    const rules = chain === undefined ? undefined : this.chains.get(chain);
    if (!rules) throw new IptablesFailure(1, NO_CHAIN);
    return rules;
  }

  private checkedRule(spec: string[]): Rule {
    const rule = parseRule(spec);
    if (!TERMINAL_TARGETS.has(rule.jump) && !this.chains.has(rule.jump)) throw new IptablesFailure(2, `${VERSION}: Couldn't load target \`${rule.jump}':No such file or directory\n`);
    return rule;
  }

  private find(chain: string, spec: string[]): number {
    const text = ruleText(parseRule(spec));
    return this.existing(chain).findIndex((r) => ruleText(r) === text);
  }

  private listRules(chain: string | undefined): string {
    const names = chain === undefined ? [...this.chains.keys()] : [chain];
    const lines: string[] = [];
    for (const name of names) {
      this.existing(name);
      lines.push(BUILT_IN.includes(name) ? `-P ${name} ACCEPT` : `-N ${name}`);
    }
    for (const name of names) for (const rule of this.chains.get(name)!) lines.push(`-A ${name} ${ruleText(rule)}`);
    return lines.map((l) => `${l}\n`).join("");
  }
}
