"""Rules around the library: the gap and feedback journal, student-privacy screening, staff auth."""
