/** The repository root, from the compiled test files (dist/test/support → repository root). */
import { fileURLToPath } from 'node:url';

export const REPO_DIR = fileURLToPath(new URL('../../../', import.meta.url));
