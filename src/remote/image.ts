/**
 * Docker image references, checked against Docker's own grammar (distribution/reference) before
 * anything changes: a value that is not one (`app:1;rm -rf /`, `--quiet`) never reaches a host.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain    := host [ ":" port ]      (a domain name, an IPv4 address or a bracketed IPv6 one)
 *   path-component := [a-z0-9]+ ( ( [_.] | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := algorithm ":" [0-9a-fA-F]{32,}
 */
const COMPONENT = '[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*';
const DOMAIN_NAME =
  '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*';
const HOST = `(?:${DOMAIN_NAME}|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** Why `ref` is not an image reference Docker would take, or undefined when it is one. */
export function imageReferenceProblem(ref: string): string | undefined {
  const m = REFERENCE.exec(ref);
  if (!m) {
    if (ref.startsWith('-')) return 'starts with "-", which docker would read as an option';
    if (/[A-Z]/.test(ref.split('/').pop()!.split(':')[0]!))
      return 'is not an image reference: repository names are lower case';
    return 'is not an image reference (like registry.example.com/team/app:1.2.3)';
  }
  if (m[1]!.length > 255) return 'is not an image reference: the name is longer than 255 characters';
  return undefined;
}
