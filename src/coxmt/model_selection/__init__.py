"""Model selection: fitting many models at once."""

from coxmt.model_selection._fit_many import fit_many

__all__ = ["fit_many"]
