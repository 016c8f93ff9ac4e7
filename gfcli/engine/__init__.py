"""The streaming engine shared by every gfcli subcommand.

Modules here never import the CLI; the CLI imports them lazily, inside command bodies,
so that `gfcli --help` stays fast.
"""
