"""Per-practice Sikka credentials: one secret per account, in AWS Secrets Manager or encrypted in the DB."""
