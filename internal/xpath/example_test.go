package xpath_test

import (
	"fmt"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

func Example() {
	doc, err := xpath.Parse([]byte(`<orders><order id="1" total="12.5"/><order id="2" total="30"/></orders>`), xpath.Limits{})
	if err != nil {
		panic(err)
	}
	e, err := xpath.Compile("sum(//order[@total > $min]/@total)", xpath.Static{})
	if err != nil {
		panic(err)
	}
	budget := int64(10_000)
	v, err := e.Evaluate(&xpath.Context{
		Node:   doc,
		Budget: &budget,
		Variable: func(q xpath.QName) (xpath.Value, bool) {
			return 20.0, q.Local == "min"
		},
	})
	fmt.Println(xpath.String(v), err)

	pats, _ := xpath.CompilePattern("order[@id = '2'] | orders", xpath.Static{})
	for _, p := range pats {
		ok, _ := p.Match(nil, doc.Children[0].Children[1])
		fmt.Println(p, p.DefaultPriority(), ok)
	}
	// Output:
	// 30 <nil>
	// order[@id = '2'] 0.5 true
	// orders 0 false
}
