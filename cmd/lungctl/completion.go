package main

import (
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newCompletionCmd) }

// newCompletionCmd replaces cobra's default completion command, which
// printed its help and exited 0 for a shell it does not know.
func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script for bash, zsh, fish or powershell",
		Long: `completion prints a script that makes your shell complete lungctl's
subcommands and flags. Any other shell name is a usage error (exit 2).`,
		Example: `  source <(lungctl completion bash)                              # this shell
  lungctl completion zsh > "${fpath[1]}/_lungctl"
  lungctl completion fish > ~/.config/fish/completions/lungctl.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			}
			return root.GenPowerShellCompletionWithDesc(w)
		},
	}
}
