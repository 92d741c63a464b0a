// One spindle loaded twice (its ESM and CommonJS builds side by side, or two copies in
// node_modules) has two SharedCounter classes. A counter made by one must still be accepted by
// the other's pools and kernels, so `instanceof` on the shared-state classes checks a brand
// keyed with Symbol.for, which every copy shares, instead of the prototype chain.

const kBrand = Symbol.for('spindle.shared.kind');

export type SharedKindName = 'SharedCounter' | 'SharedValue' | 'Lock';

/** Marks `target` as a handle of `kind`. Called once per instance, by the class itself. */
export function brand(target: object, kind: SharedKindName): void {
  Object.defineProperty(target, kBrand, { value: kind });
}

/** The kind of shared handle `value` is, from any copy of spindle; undefined for anything else. */
export function brandOf(value: unknown): SharedKindName | undefined {
  return typeof value === 'object' && value !== null ? (value as { [kBrand]?: SharedKindName })[kBrand] : undefined;
}

export function hasBrand(value: unknown, kind: SharedKindName): boolean {
  return brandOf(value) === kind;
}
