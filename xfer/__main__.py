from xfer.cli.app import main

main()
