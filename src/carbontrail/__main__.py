from carbontrail.cli.main import main

main()
