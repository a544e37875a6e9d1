// Queue manager target.
