from chimera_workers.cli import main

main()
