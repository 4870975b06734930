"""State that must outlive any one actor instance (the future SQLite journal lives here)."""
