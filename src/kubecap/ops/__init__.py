"""Operations on clusters: scale, restart and apply resources now, at a time or on cron; audit; notifications."""
