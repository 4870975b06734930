from wakeful.cli import main

raise SystemExit(main())
