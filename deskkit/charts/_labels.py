"""Chart texts in Russian: axis, legend, tooltip and chart titles, keyed by their English.

Charts are a lower layer than the desktop (``deskkit.ui``), so they keep their own texts; the
words agree with the desktop's labels (``deskkit.ui.i18n.LABELS``) where both name the same
thing. A text with no Russian here stays English (a test checks every built-in chart).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RU", "tr"]

RU: dict[str, str] = {
    # Shared words
    "Stage": "Этап",
    "Deals": "Сделки",
    "Budget": "Бюджет",
    "Net in": "Чистый приток",
    "Lost": "Потерянные",
    "Conversion": "Конверсия",
    "User": "Пользователь",
    "Manager": "Менеджер",
    "Period": "Период",
    "Previous period": "Предыдущий период",
    "This period": "Этот период",
    "Change": "Изменение",
    "Count": "Количество",
    "Share": "Доля",
    "Note": "Примечание",
    "Open deals": "Сделки в работе",
    "Won": "Успешно",
    # Pipeline flow
    "Deals at the end of the period": "Сделки на конец периода",
    "net {n}": "приток {n}",
    # Lead sources
    "Source": "Источник",
    "Won now": "Успешные сейчас",
    "Won budget": "Бюджет успешных",
    "Won share": "Доля успешных",
    "Deals created in the period": "Сделки, созданные за период",
    "won {share}": "успешно {share}",
    # NPS
    "Group": "Группа",
    "Responses": "Оценки",
    "Score": "Оценка",
    "Share of responses": "Доля оценок",
    # Files and search
    "Uploaded by": "Загрузил",
    "Files listed": "Файлов в списке",
    "Matches in": "Совпадения в",
    "Matches": "Совпадения",
    # Usage
    "Online": "В сети",
    "Online hours ({source})": "Часы в сети ({source})",
    # Activity, events, messages, response time
    "Action": "Действие",
    "Actions during the period": "Действия за период",
    "Event": "Событие",
    "Events": "События",
    "Channel": "Канал",
    "Direction": "Направление",
    "Messages": "Сообщения",
    "Median": "Медиана",
    "Mean": "Среднее",
    "Replies": "Ответы клиентам",
    "Unanswered": "Без ответа",
    "Median reply time, minutes (tick: mean)": "Медиана времени ответа, минуты (штрих: среднее)",
    # Tasks
    "Number": "Показатель",
    "Tasks": "Задачи",
    # Goals
    "Goal": "Цель",
    "Achieved": "Достигнуто",
    "Share of the target": "Доля от цели",
    # Payments
    "Counter": "Счётчик",
    "Stages": "Этапы",
    # Workload and forecast
    "Capacity": "Норма сделок",
    "Deals / capacity · budget": "Сделки / норма · бюджет",
    "Open deals now (tick: capacity)": "Сделки в работе сейчас (штрих: норма)",
    "{deals} open deals · {over} over capacity": "{deals} сделок в работе · {over} сверх нормы",
    "Without tasks": "Без задач",
    "Without of open · budget": "Без задач из открытых · бюджет",
    "Open deals now; red: without an open task": "Сделки в работе; красным: без открытой задачи",
    "{without} of {open} open deals without tasks · {budget}": (
        "{without} из {open} сделок в работе без задач · {budget}"
    ),
    "Weighted of budget · probability": "Взвешенный из бюджета · вероятность",
    "Open budget now; green: weighted by win probability": (
        "Бюджет в работе; зелёным: взвешенный по вероятности успеха"
    ),
    "Forecast {weighted} of {budget} open ({deals} deals)": (
        "Прогноз {weighted} из {budget} в работе ({deals} сделок)"
    ),
    "Created": "Создана",
    "Deal": "Сделка",
    "Responsible": "Ответственный",
    "Price": "Бюджет",
}


def tr(text: str, lang: str = "en", **fields: Any) -> str:
    """``text`` in ``lang`` ("ru": from :data:`RU`, else English), with ``fields`` filled in."""
    out = RU.get(text, text) if lang == "ru" else text
    return out.format(**fields) if fields else out
