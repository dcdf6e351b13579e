package store

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

func testReport(name string, instant time.Time) ArchivedReport {
	return ArchivedReport{Name: name, Instant: instant, From: instant.Add(-24 * time.Hour),
		FromBlock: blk(10), ToBlock: blk(20), Digest: "sha256:" + name + instant.Format("150405"),
		ProducedAt: instant.Add(5 * time.Minute)}
}

func TestSaveReportOnce(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	files := []ReportFile{{Name: "daily.json", ContentType: "application/json", Data: []byte(`{"a":1}`)},
		{Name: "daily.csv", ContentType: "text/csv", Data: []byte("a,b\n")}}

	// Concurrent claims of one instant: exactly one creates it.
	var wg sync.WaitGroup
	created := make([]bool, 4)
	ids := make([]int64, 4)
	for i := range created {
		wg.Go(func() {
			id, c, err := st.SaveReport(ctx, testReport("daily", at), files, []string{"dir", "webhook"})
			if err != nil {
				t.Error(err)
			}
			ids[i], created[i] = id, c
		})
	}
	wg.Wait()
	n := 0
	for i, c := range created {
		if c {
			n++
		}
		if ids[i] != ids[0] {
			t.Errorf("ids %v differ", ids)
		}
	}
	if n != 1 {
		t.Fatalf("created %v, want exactly one", created)
	}
	got, ok, err := st.ReportAt(ctx, "daily", at)
	if err != nil || !ok {
		t.Fatalf("ReportAt: %v %v", ok, err)
	}
	want := testReport("daily", at)
	want.ID = ids[0]
	want.Deliveries = []Delivery{
		{ReportID: ids[0], Target: "dir", Status: DeliveryPending, UpdatedAt: want.ProducedAt},
		{ReportID: ids[0], Target: "webhook", Status: DeliveryPending, UpdatedAt: want.ProducedAt},
	}
	want.Files = []ReportFileInfo{{"daily.csv", "text/csv", 4}, {"daily.json", "application/json", 7}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report\n%+v\nwant\n%+v", got, want)
	}
	fs, err := st.ReportFiles(ctx, ids[0])
	if err != nil || len(fs) != 2 || fs[0].Name != "daily.csv" || string(fs[1].Data) != `{"a":1}` {
		t.Errorf("files %+v %v", fs, err)
	}
	if _, ok, _ := st.ReportAt(ctx, "daily", at.Add(time.Hour)); ok {
		t.Error("found a report at an instant never produced")
	}
}

func TestSaveReportRejectsIncomplete(t *testing.T) {
	st := openTest(t)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		r    ArchivedReport
	}{
		{"no name", func() ArchivedReport { r := testReport("", at); return r }()},
		{"no digest", func() ArchivedReport { r := testReport("daily", at); r.Digest = ""; return r }()},
		{"no instant", func() ArchivedReport { r := testReport("daily", at); r.Instant = time.Time{}; return r }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := st.SaveReport(context.Background(), tt.r, nil, nil); err == nil {
				t.Error("saved an incomplete report")
			}
		})
	}
	if rs, err := st.Reports(context.Background(), "", 0); err != nil || len(rs) != 0 {
		t.Errorf("reports after rejected saves: %d %v", len(rs), err)
	}
}

func TestReportsListAndLastInstant(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if _, ok, err := st.LastScheduledInstant(ctx, "daily"); ok || err != nil {
		t.Fatalf("last instant of an empty archive: %v %v", ok, err)
	}
	for i := range 3 {
		if _, _, err := st.SaveReport(ctx, testReport("daily", base.Add(time.Duration(i)*24*time.Hour)), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	manual := testReport("daily", base.Add(80*time.Hour))
	manual.Manual = true
	if _, _, err := st.SaveReport(ctx, manual, nil, []string{"dir"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.SaveReport(ctx, testReport("weekly", base), nil, nil); err != nil {
		t.Fatal(err)
	}
	last, ok, err := st.LastScheduledInstant(ctx, "daily")
	if err != nil || !ok || !last.Equal(base.Add(48*time.Hour)) {
		t.Errorf("last scheduled instant %v %v %v (a manual report must not count)", last, ok, err)
	}
	all, err := st.Reports(ctx, "", 0)
	if err != nil || len(all) != 5 {
		t.Fatalf("all reports: %d %v", len(all), err)
	}
	daily, err := st.Reports(ctx, "daily", 2)
	if err != nil || len(daily) != 2 || !daily[0].Manual || !daily[1].Instant.Equal(base.Add(48*time.Hour)) {
		t.Errorf("daily, newest two: %+v %v", daily, err)
	}
	s1, err := st.ReportScheduleSince(ctx, "daily", base)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := st.ReportScheduleSince(ctx, "daily", base.Add(time.Hour))
	if err != nil || !s1.Equal(base) || !s2.Equal(base) {
		t.Errorf("schedule since %v then %v (%v), want the first kept", s1, s2, err)
	}
}

func TestDeliveryAttempts(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	id, _, err := st.SaveReport(ctx, testReport("daily", at), nil, []string{"dir", "email", "webhook"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		a     DeliveryAttempt
		final bool
	}{
		{DeliveryAttempt{ReportID: id, Target: "dir", N: 1, At: at.Add(time.Minute), Done: true}, false},
		{DeliveryAttempt{ReportID: id, Target: "webhook", N: 1, At: at.Add(time.Minute), Err: "webhook: 503"}, false},
		{DeliveryAttempt{ReportID: id, Target: "webhook", N: 2, At: at.Add(2 * time.Minute), Err: "webhook: 503"}, true},
		{DeliveryAttempt{ReportID: id, Target: "email", N: 1, At: at.Add(time.Minute), Err: "email: 550 no such user", Permanent: true}, true},
	}
	for _, s := range steps {
		if err := st.RecordDeliveryAttempt(ctx, s.a, s.final); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordDeliveryAttempt(ctx, DeliveryAttempt{ReportID: id, Target: "fax", N: 1, At: at}, true); err == nil {
		t.Error("recorded an attempt for a target the report has no delivery to")
	}
	r, _, err := st.ReportByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, d := range r.Deliveries {
		status[d.Target] = d.Status
	}
	if want := map[string]string{"dir": "delivered", "email": "failed", "webhook": "failed"}; !reflect.DeepEqual(status, want) {
		t.Errorf("statuses %v, want %v", status, want)
	}
	retry, err := st.DeliveriesToRetry(ctx)
	if err != nil || len(retry) != 1 || retry[0].Target != "webhook" || retry[0].Attempts != 2 || retry[0].LastError != "webhook: 503" {
		t.Errorf("to retry %+v %v, want only the webhook (email failed for good)", retry, err)
	}
	atts, err := st.DeliveryAttempts(ctx, id)
	if err != nil || len(atts) != 4 || !atts[0].Done || atts[2].N != 2 || !atts[3].Permanent || atts[3].Err != "email: 550 no such user" {
		t.Errorf("attempts %+v %v", atts, err)
	}
	// A later round delivers the webhook.
	if err := st.RecordDeliveryAttempt(ctx, DeliveryAttempt{ReportID: id, Target: "webhook", N: 1, At: at.Add(time.Hour), Done: true}, false); err != nil {
		t.Fatal(err)
	}
	if retry, err := st.DeliveriesToRetry(ctx); err != nil || len(retry) != 0 {
		t.Errorf("to retry after delivery: %+v %v", retry, err)
	}
}
