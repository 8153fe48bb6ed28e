"""Airflow hooks of mlmd-airflow."""
