import { Command } from 'commander';
import { TidemarkError } from '@tidemark/engine';

/** Long flags of a command, plus --help. */
function flagsOf(command: Command): string[] {
  return [...command.options.map((option) => option.long).filter((flag): flag is string => !!flag), '--help'];
}

/**
 * A bash completion script made from the live command tree, so it can never fall behind the
 * commands it completes. zsh loads it through bashcompinit.
 */
export function bashCompletion(program: Command): string {
  const cases = program.commands.map((command) => {
    const subcommands = command.commands.map((sub) => sub.name());
    // A command that also runs on its own (`invite --library ...`) completes its own flags too.
    const own = command.options.length ? flagsOf(command) : [];
    const subcases = command.commands
      .map((sub) => `        ${sub.name()}) opts="${flagsOf(sub).join(' ')}" ;;`)
      .join('\n');
    return subcommands.length
      ? `    ${command.name()})
      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=( $(compgen -W "${[...subcommands, ...own].join(' ')}" -- "$cur") ); return; fi
      case "\${COMP_WORDS[2]}" in
${subcases}
        *) opts="${own.join(' ')}" ;;
      esac ;;`
      : `    ${command.name()}) opts="${flagsOf(command).join(' ')}" ;;`;
  });
  return `# tidemark bash completion: eval "$(tidemark completion bash)"
_tidemark() {
  local cur prev opts=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${program.commands.map((c) => c.name()).join(' ')} --help --version" -- "$cur") )
    return
  fi
  case "$prev" in
    --library|--dir) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
  esac
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -o default -F _tidemark tidemark
`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh)')
    .argument('[shell]', 'bash or zsh', 'bash')
    .addHelpText(
      'after',
      `
Examples:
  $ eval "$(tidemark completion bash)"                      # in ~/.bashrc
  $ tidemark completion zsh > ~/.tidemark-completion.zsh    # then source it from ~/.zshrc`,
    )
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') {
        throw new TidemarkError('INVALID_ARGUMENT', `no completion for "${shell}"; use bash or zsh`);
      }
      const script = bashCompletion(program);
      process.stdout.write(
        shell === 'zsh' ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script,
      );
    });
}
