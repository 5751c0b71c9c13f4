import { isScalar, visit, type Document, type Node, type Scalar, type ScalarTag, type CollectionTag } from 'yaml';

/** A problem with a `${...}` in one scalar. */
interface EnvProblem {
  readonly node: Node;
  readonly message: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type EnvResult = { ok: true; value: string } | { ok: false; message: string };

/**
 * Fills `${VAR}` and `${VAR:-default}` in one string, as a shell does: the default is taken
 * when the variable is unset or empty; `$${` is a literal `${`. An unset variable without a
 * default is an error (a gateway silently connecting to "" is worse than one that refuses to start).
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv): EnvResult {
  let out = '';
  const problems: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i]!;
      i++;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) {
      problems.push(`unclosed "\${" (write "$\${" for a literal "\${")`);
      break;
    }
    const inner = text.slice(i + 2, close);
    const sep = inner.indexOf(':-');
    const name = sep < 0 ? inner : inner.slice(0, sep);
    const fallback = sep < 0 ? undefined : inner.slice(sep + 2);
    if (!NAME.test(name)) {
      problems.push(`"\${${inner}}" is not a variable: expected \${NAME} or \${NAME:-default}, NAME of letters, digits and _`);
    } else {
      const value = env[name];
      if (fallback !== undefined && (value === undefined || value === '')) out += fallback;
      else if (value !== undefined) out += value;
      else problems.push(`environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
    }
    i = close + 1;
  }
  return problems.length > 0 ? { ok: false, message: problems.join('; ') } : { ok: true, value: out };
}

function isScalarTag(t: ScalarTag | CollectionTag): t is ScalarTag {
  return 'test' in t && t.test instanceof RegExp;
}

/**
 * Re-reads a string by YAML's rules for plain scalars (the document's schema, YAML 1.2 core:
 * `1883` is a number, `true` a boolean, `~` null), so `port: ${PORT:-1883}` is a number as if
 * the number had been written there.
 */
function resolvePlain(doc: Document, text: string): unknown {
  const tag = doc.schema.tags.find((t): t is ScalarTag => isScalarTag(t) && t.default === true && t.test?.test(text) === true);
  if (tag === undefined) return text;
  try {
    // some of yaml's tags (bool) resolve to a Scalar rather than a bare value
    const v: unknown = tag.resolve(text, () => undefined, doc.options);
    return isScalar(v) ? v.value : v;
  } catch {
    return text;
  }
}

/** a scalar that is exactly one `${...}` reference, nothing around it */
const SINGLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$/;

export interface Interpolation {
  readonly problems: EnvProblem[];
  /** the interpolated text of every scalar that held a `${...}`, for fields that want a string */
  readonly texts: Map<Node, string>;
}

/**
 * Interpolates every scalar VALUE of the document in place (keys are names and stay as written).
 * The result is re-read by YAML's rules (so `port: ${PORT:-1883}` is a number) when the scalar
 * is plain, or quoted but nothing but one reference (`port: "${PORT:-1883}"`, the way to write
 * one inside `{ }`, where a plain `${` is a YAML syntax error). Other quoted scalars stay strings.
 * The text is kept too: where a field wants a string, the loader uses it as is (a password
 * `${PASS}` of digits stays "0123", not 123).
 * Nodes whose `${...}` could not be filled are returned as problems and keep their text.
 */
export function interpolateDocument(doc: Document, env: NodeJS.ProcessEnv): Interpolation {
  const problems: EnvProblem[] = [];
  const texts = new Map<Node, string>();
  visit(doc, {
    Scalar(key, node: Scalar) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const raw = node.value;
      const r = interpolate(raw, env);
      if (!r.ok) {
        problems.push({ node, message: r.message });
        return;
      }
      texts.set(node, r.value);
      node.value = node.type === 'PLAIN' || SINGLE_REFERENCE.test(raw) ? resolvePlain(doc, r.value) : r.value;
    },
  });
  return { problems, texts };
}
