// Every upstream resolution test case (DIB tests/test_elementdeps.py) plus the extra cases, on inline trees.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, ValidationErrors } from '../../../src/core/errors.js';
import { selectElements } from '../../../src/elements/plan.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir();
const elements = join(dir.path, 'elements');
const override = join(dir.path, 'element-override');
const path = `${override}:${elements}`;

beforeAll(() => {
  writeTree(elements, {
    'requires-foo': el(['foo']),
    foo: el([], ['operating-system']),
    'requires-requires-foo': el(['requires-foo']),
    self: el(['self']),
    provides_virtual: el([], ['virtual']),
    also_provides_virtual: el([], ['virtual']),
    requires_virtual: el(['virtual'], ['operating-system']),
    virtual: el(['extra_dependency']),
    extra_dependency: el(),
    circular1: el(['circular2'], ['operating-system']),
    circular2: el(['circular1']),
    provides_new_virtual: el([], ['new_virtual', 'operating-system']),
    requires_new_virtual: el(['new_virtual']),
    override_element: el(),
    // extra cases
    unordered: el(['virt', 'unordered-provider', 'foo']),
    'unordered-provider': el([], ['virt']),
    'comment-deps': el(['# not a comment']),
  });
  writeTree(override, { override_element: el() });
});
afterAll(() => dir.remove());

const resolve = (list: string[], opts: { defaultOsElement?: string } = {}) =>
  selectElements(list, { elementsPath: path, builtinDir: null, defaultOsElement: opts.defaultOsElement });
const names = (list: string[]) =>
  resolve(list)
    .elements.map((e) => e.name)
    .sort();

function errorOf(fn: () => unknown): UsageError | ValidationErrors {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsageError || e instanceof ValidationErrors) return e;
    throw e;
  }
  throw new Error('expected an error');
}
const kinds = (e: UsageError | ValidationErrors) => (e instanceof ValidationErrors ? e.kinds : [e.kind]);

describe('upstream test_elementdeps cases', () => {
  it('non_transitive_deps', () => {
    const r = resolve(['requires-foo']);
    expect(r.elements.map((e) => e.name).sort()).toEqual(['foo', 'requires-foo']);
    expect(r.elements.every((e) => e.path.startsWith(elements))).toBe(true);
  });
  it('missing_deps names the element and the searched paths', () => {
    const e = errorOf(() => resolve(['fake']));
    expect(kinds(e)).toEqual(['missing-element']);
    expect(e.message).toContain("Element 'fake' not found");
    expect(e.hint).toContain(override);
    expect(e.hint).toContain(elements);
  });
  it('invalid_element_dir is reported before the missing element', () => {
    const e = errorOf(() => selectElements(['fake'], { elementsPath: `${path}:/not/a/dir`, builtinDir: null }));
    expect(kinds(e)).toEqual(['invalid-element-dir']);
    expect(e.message).toContain("ELEMENTS_PATH entry '/not/a/dir' is not a directory");
  });
  it('transitive_deps', () => expect(names(['requires-requires-foo'])).toEqual(['foo', 'requires-foo', 'requires-requires-foo']));
  it('no_deps', () => expect(names(['foo'])).toEqual(['foo']));
  it('self', () => expect(names(['self', 'foo'])).toEqual(['foo', 'self']));
  it('circular', () => expect(names(['circular1'])).toEqual(['circular1', 'circular2']));
  it('provide', () => expect(names(['provides_virtual', 'requires_virtual'])).toEqual(['provides_virtual', 'requires_virtual']));
  it('provide_conflict', () => {
    const e = errorOf(() => resolve(['virtual', 'provides_virtual', 'foo']));
    expect(kinds(e)).toEqual(['already-provided']);
    expect(e.message).toContain("virtual : already provided by ['provides_virtual']");
  });
  it('provide_virtual_ordering', () =>
    expect(names(['requires_new_virtual', 'provides_new_virtual'])).toEqual(['provides_new_virtual', 'requires_new_virtual']));
  it('elements_provide_same names both', () => {
    const e = errorOf(() => resolve(['provides_virtual', 'also_provides_virtual', 'foo']));
    expect(kinds(e)).toEqual(['already-provided']);
    expect(e.message).toMatch(/virtual: already provided by \['provides_virtual'\]/);
    expect(e.message).toContain('also_provides_virtual');
  });
  it('no_os_element', () => expect(kinds(errorOf(() => resolve(['provides_virtual'])))).toEqual(['missing-os']));
  it('duplicated_os_passed_as_element', () => {
    const e = errorOf(() => resolve(['circular1', 'operating-system']));
    expect(kinds(e)).toEqual(['already-provided']);
    expect(e.message).toContain("operating-system : already provided by ['circular1']");
  });
  it('element_override: first entry wins', () => {
    const r = resolve(['override_element', 'foo']);
    expect(r.elements.find((e) => e.name === 'override_element')!.path).toBe(join(override, 'override_element'));
    expect(r.elements.find((e) => e.name === 'foo')!.path).toBe(join(elements, 'foo'));
    expect(r.warnings.some((w) => w.includes('overrides') && w.includes(join(elements, 'override_element')))).toBe(true);
  });
  it('env_not_set: only the built-in directory is searched', () => {
    expect(selectElements(['foo'], { elementsPath: '', builtinDir: elements }).elements.map((x) => x.name)).toEqual(['foo']);
  });
});

describe('extra cases from the reference', () => {
  it('a real element is used when nothing provides its name', () =>
    expect(names(['requires_virtual'])).toEqual(['extra_dependency', 'requires_virtual', 'virtual']));
  it('a virtual name nobody provides is missing', () =>
    expect(errorOf(() => resolve(['requires_new_virtual'])).message).toContain("Element 'new_virtual' not found"));
  it('requires_virtual + provides_virtual', () =>
    expect(names(['requires_virtual', 'provides_virtual'])).toEqual(['provides_virtual', 'requires_virtual']));
  it('a provider at the same level as the virtual name is honoured regardless of order (DIB: hash-order dependent)', () => {
    for (let i = 0; i < 5; i++) expect(names(['unordered'])).toEqual(['foo', 'unordered', 'unordered-provider']);
  });
  it('listing an element twice is not an error (DIB fails with "already provided" for a repeated OS element)', () =>
    expect(names(['foo', 'foo'])).toEqual(['foo']));
  it('requires-foo twice with foo', () => expect(names(['requires-foo', 'requires-foo', 'foo'])).toEqual(['foo', 'requires-foo']));
  it('element-deps has no comments; the hint says so', () => {
    const e = errorOf(() => resolve(['comment-deps', 'foo']));
    expect(e.message).toContain("Element '# not a comment' not found");
    expect(e.hint).toContain('no comment syntax');
  });
  it('collects every missing element at once', () => {
    const e = errorOf(() => resolve(['nope1', 'nope2', 'foo']));
    expect(e).toBeInstanceOf(ValidationErrors);
    expect(e.message).toContain("'nope1'");
    expect(e.message).toContain("'nope2'");
  });
});

describe('order, defaults and bad input', () => {
  it('orders dependencies first, ties by name, cycles grouped', () => {
    expect(resolve(['requires-requires-foo']).elements.map((e) => e.name)).toEqual(['foo', 'requires-foo', 'requires-requires-foo']);
    expect(resolve(['circular1', 'self']).elements.map((e) => e.name)).toEqual(['circular1', 'circular2', 'self']);
  });
  it('the same input gives the same order every time', () => {
    const a = resolve(['unordered', 'self', 'requires-requires-foo']).elements.map((e) => e.name);
    const b = resolve(['requires-requires-foo', 'self', 'unordered']).elements.map((e) => e.name);
    expect(a).toEqual(b);
  });
  it('records who pulled each element in', () => {
    const r = resolve(['requires-requires-foo']);
    expect(Object.fromEntries(r.elements.map((e) => [e.name, e.pulledBy]))).toEqual({
      'requires-requires-foo': '(command line)',
      'requires-foo': 'requires-requires-foo',
      foo: 'requires-foo',
    });
  });
  it('adds the default OS element with a warning when nothing provides one', () => {
    const r = resolve(['provides_virtual'], { defaultOsElement: 'foo' });
    expect(r.elements.map((e) => e.name).sort()).toEqual(['foo', 'provides_virtual']);
    expect(r.elements.find((e) => e.name === 'foo')!.pulledBy).toBe('(default operating system)');
    expect(r.warnings.join('\n')).toContain("adding the default 'foo'");
  });
  it('rejects element names that are paths or contain control characters', () => {
    for (const bad of ['../foo', 'a/b', '..', 'x\u0001y', 'two words'])
      expect(kinds(errorOf(() => resolve([bad, 'foo'])))).toEqual(['invalid-element-name']);
  });
  it('rejects empty ELEMENTS_PATH entries, naming the position', () => {
    const e = errorOf(() => selectElements(['foo'], { elementsPath: `${elements}::${override}`, builtinDir: null }));
    expect(kinds(e)).toEqual(['invalid-element-dir']);
    expect(e.message).toContain('entry 2 is empty');
  });
  it('reports an unreadable element-deps with its path', () => {
    const t = tempDir();
    writeTree(t.path, { os: el([], ['operating-system']), broken: el(['os']) });
    const deps = join(t.path, 'broken', 'element-deps');
    chmodSync(deps, 0o000);
    // root can read anything: make it a directory-like failure instead when running as root
    if (process.getuid?.() === 0) {
      writeFileSync(join(t.path, 'broken', 'element-provides'), '');
      // replace element-deps by a directory: not a regular file
      chmodSync(deps, 0o644);
      rmSync(deps);
      mkdirSync(deps);
    }
    const e = errorOf(() => selectElements(['broken'], { elementsPath: t.path, builtinDir: null }));
    expect(kinds(e)).toEqual(['unreadable-element-file']);
    expect(e.message).toContain(deps);
    t.remove();
  });
});
