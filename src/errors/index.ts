/** The ground floor: podid's typed error, its codes per family and its exit codes. Imports nothing of podid. */
export * from "./codes.js";
export * from "./exit-code.js";
export * from "./families.js";
export * from "./podid-error.js";
