"""The paper venue's trading side: accounts, orders, matching, conditional orders, persistence."""
