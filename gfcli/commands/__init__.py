"""One module per subcommand: options, help text and a call into the engine."""
