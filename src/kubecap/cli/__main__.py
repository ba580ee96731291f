from kubecap.cli.app import main

main()
