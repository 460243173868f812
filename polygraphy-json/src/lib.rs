//! Polygraphy JSON formats (placeholder until implemented).
