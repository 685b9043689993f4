import assert from "node:assert/strict";

/**
 * The part of JSON Schema (draft-07) podid's published schemas use — type (one or several), const, enum, properties,
 * required, additionalProperties (false or a schema), items, oneOf — checked strictly, naming the path of the first
 * value that does not fit. Enough to hold an output to its documented schema without a validator package.
 */
export interface Schema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  oneOf?: Schema[];
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

export function schemaErrors(value: unknown, schema: Schema, path = "$"): string[] {
  if (schema.oneOf) {
    const fits = schema.oneOf.filter((s) => schemaErrors(value, s, path).length === 0).length;
    return fits === 1 ? [] : [`${path}: fits ${fits} of the oneOf schemas`];
  }
  const errors: string[] = [];
  if (schema.const !== undefined && value !== schema.const) errors.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(", ")}`);
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === "integer" && types.includes("number"))) return [...errors, `${path}: ${actual}, not ${types.join(" or ")}`];
  }
  if (typeOf(value) === "object") {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) errors.push(`${path}: no ${key}`);
    for (const [key, v] of Object.entries(object)) {
      const sub = schema.properties?.[key] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
      if (sub) errors.push(...schemaErrors(v, sub, `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}.${key}: not in the schema`);
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errors.push(...schemaErrors(v, schema.items!, `${path}[${i}]`)));
  return errors;
}

export function assertMatchesSchema(value: unknown, schema: Schema): void {
  const errors = schemaErrors(value, schema);
  assert.deepEqual(errors, [], `does not fit the schema:\n${errors.slice(0, 20).join("\n")}`);
}
