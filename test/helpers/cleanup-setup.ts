// Loaded before every test file (vitest setupFiles): whatever a test file's tests leave behind in
// temporary directories — a failing assertion skips their own removal — is removed when the file ends.
import { afterAll } from 'vitest';
import { removeLeftoverTempDirs } from './tree.js';

afterAll(() => removeLeftoverTempDirs());
