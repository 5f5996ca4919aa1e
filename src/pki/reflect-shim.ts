/**
 * @peculiar/x509 2.x loads tsyringe, which refuses to start without the
 * Reflect metadata API (normally the `reflect-metadata` package, which this
 * project does not depend on). tsyringe only calls defineMetadata,
 * getMetadata and getOwnMetadata, so this is the smallest polyfill that
 * satisfies it. It installs nothing when a real polyfill is already present.
 */
type Target = object;
type MetaMap = Map<unknown, unknown>;

const store = new WeakMap<Target, Map<PropertyKey | undefined, MetaMap>>();

function own(target: Target, prop: PropertyKey | undefined, create: boolean): MetaMap | undefined {
  let byProp = store.get(target);
  if (!byProp) {
    if (!create) return undefined;
    byProp = new Map();
    store.set(target, byProp);
  }
  let meta = byProp.get(prop);
  if (!meta && create) {
    meta = new Map();
    byProp.set(prop, meta);
  }
  return meta;
}

interface ReflectMetadataApi {
  defineMetadata(key: unknown, value: unknown, target: Target, prop?: PropertyKey): void;
  getOwnMetadata(key: unknown, target: Target, prop?: PropertyKey): unknown;
  getMetadata(key: unknown, target: Target, prop?: PropertyKey): unknown;
  hasOwnMetadata(key: unknown, target: Target, prop?: PropertyKey): boolean;
  hasMetadata(key: unknown, target: Target, prop?: PropertyKey): boolean;
  metadata(key: unknown, value: unknown): (target: Target, prop?: PropertyKey) => void;
}

const R = Reflect as unknown as Partial<ReflectMetadataApi>;

if (typeof R.getMetadata !== 'function') {
  const api: ReflectMetadataApi = {
    defineMetadata(key, value, target, prop) {
      own(target, prop, true)!.set(key, value);
    },
    getOwnMetadata(key, target, prop) {
      return own(target, prop, false)?.get(key);
    },
    hasOwnMetadata(key, target, prop) {
      return own(target, prop, false)?.has(key) ?? false;
    },
    // Metadata is inherited along the prototype chain, as in reflect-metadata.
    getMetadata(key, target, prop) {
      for (let t: Target | null = target; t; t = Object.getPrototypeOf(t) as Target | null) {
        const meta = own(t, prop, false);
        if (meta?.has(key)) return meta.get(key);
      }
      return undefined;
    },
    hasMetadata(key, target, prop) {
      for (let t: Target | null = target; t; t = Object.getPrototypeOf(t) as Target | null) {
        if (own(t, prop, false)?.has(key)) return true;
      }
      return false;
    },
    metadata: (key, value) => (target, prop) => api.defineMetadata(key, value, target, prop),
  };
  Object.assign(Reflect, api);
}

export {};
