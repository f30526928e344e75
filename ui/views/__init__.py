"""Pages of saved views: the list, a view and its history, promotion requests and reviews."""
