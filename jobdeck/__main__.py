from jobdeck.cli import main

raise SystemExit(main())
