/**
 * Config files are strict: a field no loader reads is refused, naming it,
 * since a misspelt field (`leaseTTLSeconds`) would otherwise be silently
 * ignored and its default used. One rule for every component's loader.
 */
export function refuseUnknownFields(
  o: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
  fail: (message: string) => never,
): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`unknown field "${where}${k}"`);
}

/** The address a component listens on: absent gives `fallback`; anything but a non-empty string is refused. */
export function hostField(v: unknown, what: string, fallback: string, fail: (message: string) => never): string {
  const host = v ?? fallback;
  if (typeof host !== 'string' || host === '') fail(`${what} must be a host name or address`);
  return host;
}
