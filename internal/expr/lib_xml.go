package expr

func declXML(u *universe) {}

func parseXMLBody(f *frame, s, kind string) any {
	throw("NotSupportedException", "XML bodies are not supported yet")
	return nil
}
