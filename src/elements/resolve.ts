// Element resolution: DIB's expansion with provides, made independent of queue and hash order.
import { UsageError, throwIfProblems } from '../core/errors.js';
import { type Element, compareBytes, elementNameProblem, readNameList } from './element.js';
import type { ElementIndex } from './search-path.js';

export const OPERATING_SYSTEM = 'operating-system';

export interface ResolveOptions {
  /**
   * Element added (with a warning) when nothing provides `operating-system`. Empty or undefined
   * restores DIB's hard error.
   */
  defaultOsElement?: string;
  /**
   * Element added when `vm` is in the closure and nothing provides `block-device`
   * (disk-image-create's pre-processing, extended to a transitive `vm`). Undefined: never.
   */
  defaultBlockDevice?: string;
}

export interface ResolvedElement extends Element {
  deps: string[];
  provides: string[];
  /** Who brought it in: an element name, or `(command line)` / `(default ...)`. */
  pulledBy: string;
}

export interface Resolution {
  /** Resolved elements in execution order (see order.ts). */
  elements: ResolvedElement[];
  /** Virtual name → the element providing it. */
  providedBy: Map<string, string>;
  /** Messages the caller should show (default OS added, overrides in use). */
  warnings: string[];
}

const COMMAND_LINE = '(command line)';

/**
 * Expand `requested` into the full element set.
 *
 * Same sets and errors as DIB's `_expand_element_dependencies`, except that the answer never depends on
 * queue or hash order: a name that some element could provide is not expanded as a real element until
 * the walk has run out of other work, so a provider reached anywhere in the closure is honoured.
 */
export function resolveElements(
  index: ElementIndex,
  requested: string[],
  options: ResolveOptions = {},
): Omit<Resolution, 'elements'> & { set: Map<string, ResolvedElement> } {
  const problems: UsageError[] = [];
  for (const name of requested) {
    const problem = elementNameProblem(name);
    if (problem)
      problems.push(
        new UsageError('invalid-element-name', problem, {
          hint: 'name elements by their directory name; put their parent directory on ELEMENTS_PATH',
        }),
      );
  }
  throwIfProblems(problems);

  const defaults = [options.defaultOsElement, options.defaultBlockDevice].filter((d): d is string => !!d);
  const potentialVirtual = providedAnywhere(index, [...requested, ...defaults]);
  const userList = [...new Set(requested)];
  const final = new Set<string>(userList);
  const provided = new Map<string, string>(); // name → provider
  const pulledBy = new Map<string, string>(userList.map((n) => [n, COMMAND_LINE]));
  const expanded = new Map<string, ResolvedElement>();
  const deferred = new Set<string>();
  const missing = new Map<string, string>(); // name → wanted by
  const queue: string[] = [...userList];
  const warnings: string[] = [];

  const expand = (name: string) => {
    const element = index.elements.get(name)!;
    const { deps, provides } = readLists(index, element, problems);
    for (const p of provides) {
      const other = provided.get(p);
      if (other !== undefined && other !== name) {
        problems.push(
          new UsageError('already-provided', `${p}: already provided by ['${other}'] (and also by '${name}')`, {
            hint: `elements '${other}' and '${name}' both provide '${p}'; use only one of them`,
          }),
        );
      } else provided.set(p, name);
    }
    expanded.set(name, { ...element, deps, provides, pulledBy: pulledBy.get(name) ?? COMMAND_LINE });
    for (const dep of deps) {
      if (final.has(dep) || provided.has(dep)) continue;
      final.add(dep);
      pulledBy.set(dep, name);
      queue.push(dep);
    }
  };

  const drain = () => {
    while (queue.length) {
      const name = queue.shift()!;
      if (provided.has(name) || expanded.has(name)) continue;
      const exists = index.elements.has(name);
      if (!exists || potentialVirtual.has(name)) deferred.add(name);
      else expand(name);
    }
  };

  for (;;) {
    drain();
    // Deferred names: satisfied by a provider now, or expanded as a real element one at a time (by name).
    const open = [...deferred].filter((n) => !provided.has(n) && !expanded.has(n)).sort(compareBytes);
    deferred.clear();
    const real = open.find((n) => index.elements.has(n));
    if (real !== undefined) {
      for (const n of open) if (n !== real) deferred.add(n);
      expand(real);
      continue;
    }
    for (const n of open) if (!missing.has(n)) missing.set(n, pulledBy.get(n) ?? COMMAND_LINE);
    // Defaults that disk-image-create adds when nothing else satisfies a need.
    if (
      options.defaultBlockDevice &&
      !provided.has('block-device') &&
      expanded.has('vm') &&
      index.elements.has(options.defaultBlockDevice) &&
      !final.has(options.defaultBlockDevice)
    ) {
      addRoot(options.defaultBlockDevice, '(default block device for vm)');
      missing.delete('block-device');
      continue;
    }
    if (
      !provided.has(OPERATING_SYSTEM) &&
      options.defaultOsElement &&
      !final.has(options.defaultOsElement) &&
      index.elements.has(options.defaultOsElement) &&
      problems.length === 0 &&
      missing.size === 0
    ) {
      warnings.push(
        `no element provides ${OPERATING_SYSTEM}; adding the default '${options.defaultOsElement}' (set DIB_DEFAULT_OS_ELEMENT to choose another, or to '' to make this an error)`,
      );
      addRoot(options.defaultOsElement, '(default operating system)');
      continue;
    }
    break;
  }

  function addRoot(name: string, reason: string) {
    final.add(name);
    pulledBy.set(name, reason);
    queue.push(name);
  }

  for (const [name, wantedBy] of [...missing].sort((a, b) => compareBytes(a[0], b[0]))) {
    problems.push(
      new UsageError('missing-element', `Element '${name}' not found${wantedBy === COMMAND_LINE ? '' : ` (required by '${wantedBy}')`}`, {
        hint: `searched: ${index.entries.join(', ')}${name.startsWith('#') ? '\nelement-deps has no comment syntax: every non-blank line is an element name' : ''}\nadd the directory that contains '${name}' to ELEMENTS_PATH`,
      }),
    );
  }
  throwIfProblems(problems);

  const conflicts = userList.filter((n) => provided.has(n)).sort(compareBytes);
  for (const c of conflicts) {
    problems.push(
      new UsageError('already-provided', `${c} : already provided by ['${provided.get(c)}']`, {
        hint: `'${c}' is provided by '${provided.get(c)}'; do not list it yourself`,
      }),
    );
  }
  throwIfProblems(problems);

  if (!provided.has(OPERATING_SYSTEM)) {
    throw new UsageError('missing-os', 'Please include an operating system element', {
      hint: 'add an element that provides operating-system (e.g. debian-minimal), or set DIB_DEFAULT_OS_ELEMENT',
    });
  }

  const set = new Map<string, ResolvedElement>();
  for (const [name, element] of expanded) if (!provided.has(name)) set.set(name, element);
  for (const name of set.keys()) {
    const losers = index.shadowed.get(name);
    if (losers) for (const l of losers) warnings.push(`Element ${set.get(name)!.path} overrides ${l.path}`);
  }
  return { set, providedBy: provided, warnings };
}

function readLists(index: ElementIndex, element: Element, problems: UsageError[]): { deps: string[]; provides: string[] } {
  let lists = index.lists.get(element.path);
  if (!lists) {
    lists = { deps: [], provides: [] };
    try {
      lists = { deps: readNameList(element, 'element-deps'), provides: readNameList(element, 'element-provides') };
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      lists.error = error;
    }
    index.lists.set(element.path, lists);
  }
  if (lists.error && !problems.includes(lists.error)) problems.push(lists.error);
  return lists;
}

/**
 * Names that some element reachable from the request could provide. Computed over the whole reachable
 * graph (treating every name as real), so the decision to defer never depends on walk order.
 */
function providedAnywhere(index: ElementIndex, requested: string[]): Set<string> {
  const seen = new Set<string>();
  const result = new Set<string>();
  const stack = [...requested];
  const sink: UsageError[] = [];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const element = index.elements.get(name);
    if (!element) continue;
    const { deps, provides } = readLists(index, element, sink);
    for (const p of provides) result.add(p);
    stack.push(...deps);
  }
  return result;
}
