/** A host Baton deploys to, wherever it was found (EC2 tags or a static inventory). */
export interface Host {
  /** The inventory name: the Name tag, or the inventory alias. `--limit` patterns match it. */
  readonly name: string;
  /** Where SSH connects (through the bastion): the private IP, or `ansible_host`. */
  readonly address: string;
  /**
   * Other names `--limit` matches (EC2 only): the instance id, and the Name tag when other instances
   * share it (the name is then `web (i-0abc...)`, unique, as everything that acts on a host keys on it).
   */
  readonly aliases?: readonly string[];
  /** The EC2 instance id; absent for static hosts that are not EC2 instances. */
  readonly instanceId?: string;
  /** The EC2 instance's primary private IP, by which IP target groups know it. */
  readonly privateIp?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly groups: readonly string[];
  /** Per-host SSH settings from a static inventory (`ansible_user`, `ansible_port`). */
  readonly ssh?: { readonly user?: string; readonly port?: number };
}

/** "3 hosts: app-1, app-2, app-3", as the inventory step reports its selection. */
export const describeHosts = (hosts: readonly Pick<Host, 'name'>[]): string =>
  `${hosts.length} host${hosts.length === 1 ? '' : 's'}: ${hosts.map((h) => h.name).join(', ')}`;
