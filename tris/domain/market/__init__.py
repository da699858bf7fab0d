"""Markets: Marktplatz, action day and round table; offers and needs; deals and their money
taboo (ADR 20)."""
