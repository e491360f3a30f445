"""Reports for privacy reviewers (個人情報保護の整理): counts and column names, never a personal value."""
