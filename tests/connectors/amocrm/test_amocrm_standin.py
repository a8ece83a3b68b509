"""The stand-in serves the store as the amoCRM API v4 would, and the client pages through it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from deskkit.connectors.amocrm import BadRequest

# path, params, SQL counting what the list must hold
LISTS = [
    ("/api/v4/leads", {}, "SELECT count(*) FROM deals WHERE NOT is_deleted"),
    ("/api/v4/leads", {"with": "only_deleted"}, "SELECT count(*) FROM deals WHERE is_deleted"),
    ("/api/v4/contacts", {}, "SELECT count(*) FROM contacts WHERE NOT is_deleted"),
    ("/api/v4/companies", {}, "SELECT count(*) FROM companies WHERE NOT is_deleted"),
    ("/api/v4/customers", {}, "SELECT count(*) FROM customers WHERE NOT is_deleted"),
    ("/api/v4/tasks", {}, "SELECT count(*) FROM tasks"),
    # store events plus one nps_rate_added per NPS response
    ("/api/v4/events", {}, "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM nps)"),
    (
        "/api/v4/leads/notes",
        {},
        "SELECT (SELECT count(*) FROM notes WHERE entity_type = 'deal') "
        "+ (SELECT count(*) FROM calls WHERE entity_type = 'deal') "
        "+ (SELECT count(*) FROM files WHERE entity_type = 'deal')",
    ),
    ("/api/v4/users", {}, "SELECT count(*) FROM users"),
    (
        "/api/v4/leads/custom_fields",
        {},
        "SELECT count(*) FROM custom_fields WHERE entity_type = 'deal'",
    ),
    (
        "/api/v4/contacts/custom_fields",
        {},
        "SELECT count(*) FROM custom_fields WHERE entity_type = 'contact'",
    ),
    ("/api/v4/leads/loss_reasons", {}, "SELECT count(*) FROM loss_reasons"),
    ("/api/v4/sources", {}, "SELECT count(*) FROM lead_sources"),
    ("/api/v4/leads/tags", {}, "SELECT count(DISTINCT tag) FROM tags WHERE entity_type = 'deal'"),
]


@pytest.mark.parametrize(
    ("path", "params", "sql"), LISTS, ids=[f"{p}{'?' + str(q) if q else ''}" for p, q, _ in LISTS]
)
def test_client_pages_every_list_to_the_store_count(make_client, store_rows, path, params, sql):
    limit = 100 if path.endswith("/events") else 250
    pages = list(make_client().pages(path, {"limit": limit, **params}))
    ids = [item["id"] for page in pages for item in page.items]
    assert len(ids) == store_rows(sql)
    assert len(set(ids)) == len(ids)
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))


def test_a_list_of_exactly_k_pages_ends_with_a_204(api, make_client):
    # 12 users in pages of 4: three full pages each offer "next"; the fourth request gets 204.
    pages = list(make_client().pages("/api/v4/users", {"limit": 4}))
    assert [len(p.items) for p in pages] == [4, 4, 4]
    statuses = [e.status for e in api.log if e.path == "/api/v4/users"]
    assert statuses == [200, 200, 200, 204]


def test_a_short_last_page_has_no_next_link(api, make_client):
    pages = list(make_client().pages("/api/v4/users", {"limit": 5}))
    assert [len(p.items) for p in pages] == [5, 5, 2]
    assert [e.status for e in api.log] == [200, 200, 200]


def test_next_links_follow_the_host_the_client_used(api):
    from deskkit.connectors.amocrm import AmoClient, LongLivedToken, RateLimiter

    url = api.url.replace("127.0.0.1", "localhost")
    client = AmoClient(url, LongLivedToken(api.token), limiter=RateLimiter(1000.0))
    pages = list(client.pages("/api/v4/users", {"limit": 5}))
    assert sum(len(p.items) for p in pages) == len(api.data.users)


def test_nothing_matches_is_204_with_an_empty_body(api, make_client, fake_token):
    client = make_client()
    params = {"filter[updated_at][from]": 4_000_000_000, "limit": 250}
    resp = client.request("GET", "/api/v4/leads", params)
    assert (resp.status, resp.body) == (204, b"")
    assert resp.json() is None
    assert list(client.pages("/api/v4/leads", params)) == []


def test_updated_at_window_in_ascending_order(make_client, store_rows):
    lo, hi = 1_750_000_000, 1_780_000_000
    params = {
        "filter[updated_at][from]": lo,
        "filter[updated_at][to]": hi,
        "order[updated_at]": "asc",
        "limit": 50,
    }
    leads = list(make_client().records("/api/v4/leads", params))
    stamps = [lead["updated_at"] for lead in leads]
    assert stamps == sorted(stamps)
    assert all(lo <= t <= hi for t in stamps)
    expected = store_rows(
        "SELECT count(*) FROM deals WHERE NOT is_deleted "
        f"AND epoch(updated_at) BETWEEN {lo} AND {hi}"
    )
    assert len(leads) == expected > 0


def test_filter_by_id_and_every_list_form_of_a_filter(make_client):
    client = make_client()
    ids = [lead["id"] for lead in client.get("/api/v4/leads", {"limit": 7})["_embedded"]["leads"]]
    forms = [
        {"filter[id]": ",".join(map(str, ids))},
        {"filter[id]": ids},  # the client sends filter[id][0]=..&filter[id][1]=..
    ]
    for form in forms:
        got = [lead["id"] for lead in client.records("/api/v4/leads", {**form, "limit": 250})]
        assert got == ids


def test_event_filters(make_client, store_rows):
    client = make_client()
    moves = list(
        client.records("/api/v4/events", {"filter[type]": "lead_status_changed", "limit": 100})
    )
    assert len(moves) == store_rows("SELECT count(*) FROM deal_moves")
    both = {"filter[type]": ["task_completed", "lead_added"], "limit": 100}
    types = {e["type"] for e in client.records("/api/v4/events", both)}
    assert types == {"task_completed", "lead_added"}
    window = {"filter[created_at][from]": 1_760_000_000, "filter[created_at][to]": 1_770_000_000}
    stamps = [e["created_at"] for e in client.records("/api/v4/events", {**window, "limit": 100})]
    assert stamps and all(1_760_000_000 <= t <= 1_770_000_000 for t in stamps)
    assert stamps == sorted(stamps, reverse=True)  # newest first, as the API lists events


def test_event_filters_are_validated(make_client):
    client = make_client()
    with pytest.raises(BadRequest) as bad_type:
        client.get("/api/v4/events", {"filter[type]": "lead_added,no_such_event"})
    assert bad_type.value.status == 400
    assert "no_such_event" in str(bad_type.value)
    assert client.get("/api/v4/events", {"filter[entity_id]": list(range(10)), "limit": 10}) is None
    with pytest.raises(BadRequest, match="at most 10"):
        client.get("/api/v4/events", {"filter[entity_id]": list(range(11))})
    with pytest.raises(BadRequest, match="at most 10"):
        client.get("/api/v4/events", {"filter[created_by]": list(range(11))})
    with pytest.raises(BadRequest) as too_long:
        client.get("/api/v4/leads", {"filter[id]": list(range(10_000_000, 10_000_400))})
    assert too_long.value.status == 414
    with pytest.raises(BadRequest, match="limit"):
        client.get("/api/v4/events", {"limit": 250})
    with pytest.raises(BadRequest, match="limit"):
        client.get("/api/v4/leads", {"limit": 251})
    # a custom-field change type is open-ended but valid
    client.get("/api/v4/events", {"filter[type]": "custom_field_3301002_value_changed"})


def test_event_shapes(make_client, store_rows):
    client = make_client()

    def first(kind: str) -> dict:
        page = client.get("/api/v4/events", {"filter[type]": kind, "limit": 1})
        return page["_embedded"]["events"][0]

    move = first("lead_status_changed")
    assert isinstance(move["id"], str)
    assert move["entity_type"] == "lead"
    for side in ("value_before", "value_after"):
        status = move[side][0]["lead_status"]
        assert set(status) == {"id", "pipeline_id"}
    message = first("incoming_chat_message")["value_after"][0]["message"]
    assert set(message) == {"id", "origin", "talk_id"}
    talk = client.get(f"/api/v4/talks/{message['talk_id']}")
    assert talk["talk_id"] == message["talk_id"] and talk["rate"] is None
    call_note = first("outgoing_call")["value_after"][0]["note"]["id"]
    calls = client.get("/api/v4/leads/notes", {"filter[id]": call_note})["_embedded"]["notes"]
    assert calls[0]["note_type"] == "call_out" and calls[0]["params"]["duration"] >= 0
    note_id = first("common_note_added")["value_after"][0]["note"]["id"]
    notes = client.get("/api/v4/leads/notes", {"filter[id]": note_id})["_embedded"]["notes"]
    assert notes[0]["note_type"] == "common" and notes[0]["params"]["text"]
    nps = first("nps_rate_added")["value_after"][0]["nps_rate"]
    assert client.get(f"/api/v4/talks/{nps['talk_id']}")["rate"] == nps["rate"]
    assert 0 <= nps["rate"] <= 10
    responsible = first("entity_responsible_changed")["value_after"][0]["responsible_user"]
    assert isinstance(responsible["id"], int)
    kinds = {t["key"] for t in client.get("/api/v4/events/types")["_embedded"]["events_types"]}
    stored = store_rows("SELECT count(DISTINCT type) FROM events")
    assert len(kinds) > stored and "lead_status_changed" in kinds


def test_filter_entity_alone_leaves_out_messages_and_calls(make_client):
    # The quirk reported by third parties, reproduced: fetch those events by type instead.
    client = make_client()
    params = {"filter[entity]": "lead", "limit": 100}
    types = {e["type"] for e in client.records("/api/v4/events", params)}
    assert "lead_status_changed" in types
    assert not types & {"incoming_chat_message", "outgoing_chat_message", "incoming_call"}
    typed = {**params, "filter[type]": "incoming_call"}
    assert {e["type"] for e in client.records("/api/v4/events", typed)} == {"incoming_call"}


def test_tasks_carry_no_completion_time_but_events_do(make_client, store_rows):
    client = make_client()
    tasks = list(client.records("/api/v4/tasks", {"limit": 250}))
    assert {"complete_till", "is_completed", "task_type_id"} <= set(tasks[0])
    assert not any("completed_at" in t for t in tasks)
    done = {t["id"] for t in tasks if t["is_completed"]}
    params = {"filter[type]": "task_completed", "limit": 100}
    completed = {e["entity_id"] for e in client.records("/api/v4/events", params)}
    assert completed == done
    assert len(done) == store_rows("SELECT count(*) FROM tasks WHERE is_completed")
    types = client.get("/api/v4/account", {"with": "task_types"})["_embedded"]["task_types"]
    assert {t["id"] for t in tasks} and {t["task_type_id"] for t in tasks} <= {
        t["id"] for t in types
    }


def test_pipelines_reuse_won_and_lost_ids(make_client, store_rows):
    client = make_client()
    account = client.get("/api/v4/account", {"with": "users_groups,datetime_settings"})
    assert account["currency"] == "RUB"
    assert account["_embedded"]["datetime_settings"]["timezone"] == "Europe/Moscow"
    assert len(account["_embedded"]["users_groups"]) == store_rows("SELECT count(*) FROM groups")
    pipelines = client.get("/api/v4/leads/pipelines")["_embedded"]["pipelines"]
    assert len(pipelines) == store_rows("SELECT count(*) FROM pipelines")
    for p in pipelines:
        statuses = p["_embedded"]["statuses"]
        assert {142, 143} <= {s["id"] for s in statuses}
        assert [s["type"] for s in statuses].count(1) == 1  # one unsorted stage
        assert all(s["pipeline_id"] == p["id"] for s in statuses)


def test_leads_carry_custom_fields_tags_and_links(make_client, store_rows):
    client = make_client()
    params = {"with": "contacts,source_id", "limit": 250}
    leads = list(client.records("/api/v4/leads", params))
    values = sum(len(f["values"]) for lead in leads for f in lead["custom_fields_values"] or [])
    assert values == store_rows(
        "SELECT count(*) FROM custom_values v JOIN deals d ON d.deal_id = v.entity_id "
        "WHERE v.entity_type = 'deal' AND NOT d.is_deleted"
    )
    tags = sum(len(lead["_embedded"]["tags"]) for lead in leads)
    assert tags == store_rows(
        "SELECT count(*) FROM tags t JOIN deals d ON d.deal_id = t.entity_id "
        "WHERE t.entity_type = 'deal' AND NOT d.is_deleted"
    )
    assert all("source_id" in lead for lead in leads)
    assert "source_id" not in client.get("/api/v4/leads", {"limit": 1})["_embedded"]["leads"][0]
    with_contact = [lead for lead in leads if lead["_embedded"]["contacts"]]
    assert with_contact and with_contact[0]["_embedded"]["contacts"][0]["is_main"] is True
    one = client.get(f"/api/v4/leads/{leads[0]['id']}")
    assert one["id"] == leads[0]["id"]
    assert client.get("/api/v4/leads/1") is None  # unknown id: 204


def test_requests_without_a_valid_token_get_401(api):
    for headers in ({}, {"Authorization": "Bearer wrong-token"}):
        req = urllib.request.Request(api.url + "/api/v4/account", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=5)
        assert err.value.code == 401
        assert json.loads(err.value.read())["status"] == 401


def test_malformed_records_are_served_without_breaking_pagination(api, make_client):
    api.faults.malformed(0.25, seed=3)
    leads = list(make_client().records("/api/v4/leads", {"limit": 50}))
    healthy = api.data.counts()["leads"]
    assert len(leads) == healthy
    broken = [
        lead
        for lead in leads
        if "id" not in lead
        or not isinstance(lead.get("price"), int | float)
        or not isinstance(lead.get("created_at"), int)
        or lead.get("updated_at") is None
    ]
    assert 0.1 * healthy < len(broken) < 0.4 * healthy
