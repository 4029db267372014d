package dockerfmt

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/network"
)

func testNetworks() []*network.Network {
	return []*network.Network{
		{Name: "app", ID: strings.Repeat("a", 64), Driver: "bridge", Subnet: netip.MustParsePrefix("10.40.0.0/24"),
			Gateway: netip.MustParseAddr("10.40.0.254"), Bridge: "sd-aaaaaaaaaaaa", Internal: true,
			Labels: map[string]string{"tier": "", "env": "test"}, Created: time.Date(2024, 5, 1, 10, 0, 0, 5, time.UTC)},
		{Name: "bridge", ID: strings.Repeat("b", 64), Driver: "bridge", Subnet: netip.MustParsePrefix("172.17.0.0/16"),
			Gateway: netip.MustParseAddr("172.17.0.1"), Bridge: "sdocker0"},
	}
}

func TestInspectNetwork(t *testing.T) {
	n := testNetworks()[0]
	members := []network.Member{
		{ContainerID: strings.Repeat("c", 64), Name: "web", Addr: netip.MustParseAddr("10.40.0.2"), Mac: "02:42:0a:28:00:02"},
		{ContainerID: strings.Repeat("d", 64), Name: "nowhere"},
	}
	var b strings.Builder
	if err := WriteInspectJSON(&b, []*NetworkJSON{InspectNetwork(n, members)}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil || len(got) != 1 {
		t.Fatalf("%v\n%s", err, b.String())
	}
	j := got[0]
	ipam := j["IPAM"].(map[string]any)
	cfg := ipam["Config"].([]any)[0].(map[string]any)
	ctr := j["Containers"].(map[string]any)[strings.Repeat("c", 64)].(map[string]any)
	if j["Name"] != "app" || j["Id"] != n.ID || j["Scope"] != "local" || j["Driver"] != "bridge" || j["Internal"] != true ||
		j["Created"] != "2024-05-01T10:00:00.000000005Z" || ipam["Driver"] != "default" ||
		cfg["Subnet"] != "10.40.0.0/24" || cfg["Gateway"] != "10.40.0.254" ||
		ctr["Name"] != "web" || ctr["IPv4Address"] != "10.40.0.2/24" || ctr["MacAddress"] != "02:42:0a:28:00:02" ||
		j["Options"].(map[string]any)["com.docker.network.bridge.name"] != "sd-aaaaaaaaaaaa" ||
		j["Labels"].(map[string]any)["env"] != "test" {
		t.Errorf("inspect:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "\n    {\n        \"Name\": \"app\",") {
		t.Errorf("not Docker's indent:\n%s", b.String())
	}
	// Empty maps, not null, as Docker.
	d := InspectNetwork(testNetworks()[1], nil)
	if d.Containers == nil || d.Labels == nil {
		t.Errorf("%+v", d)
	}
	// Templates see Docker's names (.Id) or the struct's (.ID).
	for _, text := range []string{`{{.Id}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{len .Containers}}`, `{{.ID}} {{(index .IPAM.Config 0).Subnet}} {{len .Containers}}`} {
		tmpl, err := ParseTemplate(text)
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		if err := WriteInspectTemplate(&b, tmpl, d); err != nil {
			t.Fatal(err)
		}
		if want := d.ID + " 172.17.0.0/16 0\n"; b.String() != want {
			t.Errorf("template %s: %q, want %q", text, b.String(), want)
		}
	}
}

func TestWriteNetworks(t *testing.T) {
	var rows []NetworkRow
	for _, n := range testNetworks() {
		rows = append(rows, NewNetworkRow(n, false))
	}
	var b strings.Builder
	if err := WriteNetworksTable(&b, rows, false); err != nil {
		t.Fatal(err)
	}
	want := "NETWORK ID     NAME     DRIVER   SCOPE\naaaaaaaaaaaa   app      bridge   local\nbbbbbbbbbbbb   bridge   bridge   local\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteNetworksTable(&b, rows, true); err != nil || b.String() != "aaaaaaaaaaaa\nbbbbbbbbbbbb\n" {
		t.Errorf("quiet: %q, %v", b.String(), err)
	}
	b.Reset()
	if err := WriteNetworksFormat(&b, `{{.Name}}\t{{.Labels}}\t{{.Internal}}`, rows); err != nil ||
		b.String() != "app\tenv=test,tier=\ttrue\nbridge\t\tfalse\n" {
		t.Errorf("format: %q, %v", b.String(), err)
	}
	b.Reset()
	if err := WriteNetworksFormat(&b, "json", rows[:1]); err != nil || !strings.HasPrefix(b.String(), `{"ID":"aaaaaaaaaaaa","Name":"app",`) {
		t.Errorf("json: %q, %v", b.String(), err)
	}
	if NewNetworkRow(testNetworks()[0], true).ID != strings.Repeat("a", 64) {
		t.Error("--no-trunc shortened the id")
	}
	for _, bad := range []string{"{{", "{{.Nope}}"} {
		if err := WriteNetworksFormat(&b, bad, rows); err == nil {
			t.Errorf("format %q accepted", bad)
		}
	}
}
