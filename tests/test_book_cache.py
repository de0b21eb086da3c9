"""The book's execution cache is dropped exactly when the lessons' hidden inputs change."""

from __future__ import annotations

import book_cache


def test_cache_dropped_when_profile_changes(tmp_path, monkeypatch):
    build = tmp_path / "_build"
    monkeypatch.setenv("CTM_COURSE_PROFILE", "smoke")
    book_cache.main([str(build)])  # first build: records the key
    (build / ".jupyter_cache").mkdir()
    book_cache.main([str(build)])  # unchanged: the cache stays
    assert (build / ".jupyter_cache").is_dir()
    monkeypatch.setenv("CTM_COURSE_PROFILE", "cpu")
    book_cache.main([str(build)])  # another profile: every lesson must run again
    assert not (build / ".jupyter_cache").exists()
    monkeypatch.setenv("CTM_COURSE_DATA", str(tmp_path))
    key_cpu_other_data = book_cache.book_key(
        book_cache.Path(book_cache.__file__).resolve().parents[1]
    )
    monkeypatch.delenv("CTM_COURSE_DATA")
    assert key_cpu_other_data != book_cache.book_key(
        book_cache.Path(book_cache.__file__).resolve().parents[1]
    )


def test_key_follows_the_shipped_weights(tmp_path):
    """A retrained shipped model changes the lessons' numbers: the key must change with it."""
    (tmp_path / "ctm_course" / "pretrained").mkdir(parents=True)
    (tmp_path / "ctm_course" / "model.py").write_text("x = 1\n")
    weights = tmp_path / "ctm_course" / "pretrained" / "05_lesson.pt"
    weights.write_bytes(b"first weights")
    before = book_cache.book_key(tmp_path)
    assert book_cache.book_key(tmp_path) == before
    weights.write_bytes(b"retrained weights")
    assert book_cache.book_key(tmp_path) != before
