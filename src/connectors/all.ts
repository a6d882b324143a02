// Loads every connector so it registers its source type. Add a line per connector.
import './records/index.ts';
import './ixpole/index.ts';
import './csv/index.ts';
import './webhook/index.ts';
import './stripe/index.ts';
