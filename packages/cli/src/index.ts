/** @tidemark/cli: the `tidemark` command. */
export { buildProgram, main } from './main';
export { EXIT, exitCodeFor } from './exit-codes';
