from kerasfg.cli import main

raise SystemExit(main())
