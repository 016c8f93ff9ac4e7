
#compdef gfcli

_gfcli_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _GFCLI_COMPLETE=complete_zsh gfcli)
}

compdef _gfcli_completion gfcli

