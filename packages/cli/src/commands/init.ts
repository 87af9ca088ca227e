import { Command } from 'commander';
import { createDeviceLibrary } from '../device-library';
import { databaseLocator, databaseUrl, libraryFile, redactedUrl } from '../options';
import { printJson } from '../output';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a library database in DIR (a new library, or a new member of an existing one)')
    .requiredOption('--library <dir>', 'directory for the library (DIR/library.db is created)')
    .option('--library-id <uuid>', 'join the existing library with this id instead of making a new one')
    .option('--name <name>', 'human-readable name of the library')
    .option(
      '--database <url>',
      'make a hub library: its rows in this PostgreSQL database (postgres://USER[:PASSWORD]@HOST:PORT/DB[?schema=NAME]); DIR keeps database.json and the key',
      databaseUrl,
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ tidemark init --library ~/tidemark/laptop
  $ tidemark init --library ~/tidemark/desktop --library-id 0b79cf7e-631e-451e-8aee-83d9646fee82
  $ tidemark init --library /srv/tidemark/hub --name team --database postgres://tidemark@db:5432/tidemark

Also makes this device's key pair and self-signed certificate (DIR/device-key.pem, mode 0600, and
DIR/device-cert.pem); the device id is derived from the certificate. To add another device to
the library over the network, use \`tidemark invite\` here and \`tidemark join\` there.

With --database the library is a hub: every command that takes --library DIR works on it, and
any number of \`tidemark node --library DIR\` processes (on this machine or others with a copy
of DIR) serve it at once. DIR/database.json (mode 0600) holds the URL, password included.`,
    )
    .action(
      async (options: {
        library: string;
        libraryId?: string;
        name?: string;
        database?: string;
        json?: boolean;
      }) => {
        const { library, credentials } = await createDeviceLibrary(options.library, {
          libraryId: options.libraryId,
          name: options.name,
          databaseUrl: options.database,
        });
        const { libraryId, deviceId, epoch, name } = library.identity;
        const { fingerprint } = credentials.certificate;
        await library.close();
        const file = options.database ? databaseLocator(options.library) : libraryFile(options.library);
        const database = options.database ? redactedUrl(options.database) : undefined;
        if (options.json) printJson({ file, database, libraryId, deviceId, epoch, name, fingerprint });
        else {
          process.stdout.write(
            `created ${file}${database ? ` (hub library in ${database})` : ''}\n` +
              `library id   ${libraryId}\ndevice id    ${deviceId}\nepoch        ${epoch}\n` +
              `certificate  ${fingerprint} (key in device-key.pem, mode 0600)\n`,
          );
        }
      },
    );
}
