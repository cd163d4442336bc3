package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// TestWebPage drives the web page in headless Chromium: type a prompt,
// press Generate, see a partial preview and then the final image, find it
// in the gallery, save a screenshot, and check the console stayed clean.
func TestWebPage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("no " + chromiumPath + " (apt-get install chromium)")
	}
	f := newFake()
	f.w, f.h, f.steps, f.delay = 64, 64, 16, 60*time.Millisecond
	_, ts := newTestServer(t, f, Options{})

	dir := os.Getenv("TESSELLA_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	profile, err := os.MkdirTemp("", "tessella-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Chromium's children may still write there for a moment.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1100, 1000),
	)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()
	// Start the browser on a context without a deadline (a deadline on the
	// first call would bound the browser's life).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}

	var mu sync.Mutex
	var consoleErrors []string
	consCtx, stopConsole := context.WithCancel(ctx)
	consDone := make(chan struct{})
	messages := chromedp.Console(consCtx)
	go func() {
		defer close(consDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				consoleErrors = append(consoleErrors, m.String())
				mu.Unlock()
			}
		}
	}()

	tctx, cancelTimeout := context.WithTimeout(ctx, 45*time.Second)
	defer cancelTimeout()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err = chromedp.Do(tctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(css("#prompt")),
		chromedp.Poll[chromedp.Void](`document.getElementById('model').textContent === 'fake:test'`),
		chromedp.SendKeys(css("#prompt"), "a large blue star in the center"),
		chromedp.SendKeys(css("#seed"), "5"),
		chromedp.SendKeys(css("#top_k"), "64"),
		chromedp.Click(css("#generate")),
		chromedp.WaitVisible(css(`#preview[data-state="partial"]`)),
		chromedp.WaitVisible(css(`#preview[data-state="final"]`)),
		chromedp.WaitVisible(css(`#gallery .card img`)),
		chromedp.Poll[chromedp.Void](`(() => { const i = document.querySelector('#gallery .card img');
			return i.complete && i.naturalWidth > 0; })()`),
	)
	var partials, finalWidth, cards, settings string
	var shot []byte
	if err == nil {
		partials, err = chromedp.Run(tctx, chromedp.Evaluate[string](`document.getElementById('preview').dataset.partials`))
	}
	if err == nil {
		finalWidth, err = chromedp.Run(tctx, chromedp.Evaluate[string](`String(document.getElementById('preview').naturalWidth)`))
	}
	if err == nil {
		cards, err = chromedp.Run(tctx, chromedp.Evaluate[string](`String(document.querySelectorAll('#gallery .card').length)`))
	}
	if err == nil {
		settings, err = chromedp.Run(tctx, chromedp.Text(css(`#gallery .card dl`)))
	}
	shot, serr := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if serr != nil {
		t.Errorf("screenshot: %v", serr)
	}
	if len(shot) > 0 {
		path := filepath.Join(dir, "web-page.png")
		if werr := os.WriteFile(path, shot, 0o644); werr != nil {
			t.Error(werr)
		} else {
			t.Logf("screenshot: %s", path)
		}
	}
	if err != nil {
		t.Fatalf("driving the page: %v (console: %v)", err, consoleErrors)
	}
	if partials != "3" {
		t.Errorf("the page showed %q partial previews, want 3", partials)
	}
	if finalWidth != "64" {
		t.Errorf("final image width %q, want 64", finalWidth)
	}
	if cards != "1" {
		t.Errorf("%s gallery cards, want 1", cards)
	}
	if !strings.Contains(settings, "seed") || !strings.Contains(settings, "5") || !strings.Contains(settings, "top_k") {
		t.Errorf("gallery settings %q lack the seed and top_k", settings)
	}
	if n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('#grid option').length`)); err != nil || n != 4 {
		t.Errorf("grid options: %d (%v), want 1×1 … 4×4", n, err)
	}

	// With an API key configured the page asks for it and sends it.
	_, keyed := newTestServer(t, f, Options{APIKey: "page-key"})
	err = chromedp.Do(tctx,
		chromedp.Navigate(keyed.URL+"/"),
		chromedp.WaitVisible(css("#apikey")),
		chromedp.SendKeys(css("#prompt"), "a keyed request"),
		chromedp.SendKeys(css("#apikey"), "page-key"),
		chromedp.Click(css("#generate")),
		chromedp.WaitVisible(css(`#preview[data-state="final"]`)),
		chromedp.WaitVisible(css(`#gallery .card img`)),
	)
	if err != nil {
		t.Errorf("keyed page: %v", err)
	}

	// Give late console messages a moment to arrive, then check.
	chromedp.Do(tctx, chromedp.Sleep(200*time.Millisecond))
	stopConsole()
	<-consDone
	mu.Lock()
	defer mu.Unlock()
	for _, e := range consoleErrors {
		t.Errorf("browser console: %s", e)
	}
}
