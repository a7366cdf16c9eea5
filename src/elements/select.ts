// Element selection: resolve and order (no YAML or hook work, so element-info stays light).
import { orderElements } from './order.js';
import { type ResolveOptions, type ResolvedElement, resolveElements } from './resolve.js';
import { type ElementIndex, loadElementIndex } from './search-path.js';

export interface ElementSelection {
  index: ElementIndex;
  elements: ResolvedElement[];
  providedBy: Map<string, string>;
  warnings: string[];
}

export interface SelectOptions extends ResolveOptions {
  elementsPath: string | undefined;
  /** Override the built-in element directory (tests); null: none. */
  builtinDir?: string | null;
}

/** Resolve and order; every problem is a UsageError (exit 2). */
export function selectElements(requested: string[], options: SelectOptions): ElementSelection {
  const index =
    options.builtinDir === undefined ? loadElementIndex(options.elementsPath) : loadElementIndex(options.elementsPath, options.builtinDir);
  const { set, providedBy, warnings } = resolveElements(index, requested, options);
  return { index, elements: orderElements(set, providedBy), providedBy, warnings };
}

/**
 * disk-image-create's list pre-processing: `base` first unless skipped. (The `vm` → block-device default
 * is applied by the resolver through `defaultBlockDevice`, so it also works when `vm` is a dependency.)
 * Unlike DIB, an `IMAGE_ELEMENT` in the caller's environment is not prepended.
 */
export function buildElementList(requested: string[], options: { skipBase: boolean }): string[] {
  return options.skipBase || requested.includes('base') ? [...requested] : ['base', ...requested];
}

/** The default block-device element for `vm` on this architecture (DIB: efi on arm64/aarch64). */
export function defaultBlockDeviceFor(arch: string): string {
  return arch === 'arm64' || arch === 'aarch64' ? 'block-device-efi' : 'block-device-mbr';
}
