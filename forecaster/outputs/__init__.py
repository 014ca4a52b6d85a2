"""What users read: Rich tables for the terminal, the brief rendered (PNG chart, Markdown, HTML,
JSON), the audit/show/diff rendered (Markdown, JSON), the track record (tables, JSON, CSV,
reliability PNG), BIF/XMLBIF export, and Rich tables and Markdown that never cut an id
(`columns`). Renderers format
results computed below; they never compute. May import: every layer below."""
