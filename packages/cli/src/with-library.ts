import { Library, OpenLibraryOptions } from '@tidemark/engine';
import { libraryFile } from './options';

/** Opens the library in DIR for the duration of `fn`, closing it however `fn` ends. */
export async function withLibrary<T>(
  dir: string,
  fn: (library: Library) => Promise<T>,
  options: OpenLibraryOptions = {},
): Promise<T> {
  const library = await Library.open(libraryFile(dir), options);
  try {
    return await fn(library);
  } finally {
    await library.close();
  }
}
