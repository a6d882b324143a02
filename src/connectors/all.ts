// Loads every connector so it registers its source type. Add a line per connector.
import './records/index.ts';
