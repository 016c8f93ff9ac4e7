from gfcli.cli import main

main()
